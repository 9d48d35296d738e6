from setuptools import find_packages, setup

setup(
    name="dragonfly-py",
    version="0.1.0",
    description="P2P file and container-image distribution, wire-compatible with Dragonfly v1",
    python_requires=">=3.11",
    packages=find_packages(
        include=["common", "common.*", "supernode", "supernode.*", "dfget", "dfget.*", "dfdaemon", "dfdaemon.*"]
    ),
    include_package_data=True,
    package_data={"supernode.api": ["openapi.yaml"], "supernode.console": ["assets/*"]},
    install_requires=[
        "flask>=3.0",
        "gunicorn>=22",
        "gevent>=24",
        "requests>=2.31",
        "pyyaml>=6",
        "click>=8.1",
        # Prometheus text format, registries and histograms done right (v1's metric names,
        # docs/operations.md#metrics-worth-alerting-on).
        "prometheus_client>=0.20",
        # gunicorn's gevent worker imports it but gunicorn does not declare it.
        "packaging>=23",
        # dfdaemon: a CA and per-host leaf certificates for hijacked HTTPS (X.509 done right).
        "cryptography>=41",
        # dfdaemon forwards repeated headers unchanged, which requests' dict API cannot.
        "urllib3>=2",
    ],
    extras_require={
        # kubernetes-validate: the deployment tests check rendered manifests against the Kubernetes schemas.
        # ruff, mypy and the PyYAML stubs: the lint and type gate (tests/unit/test_lint_gate.py).
        "test": [
            "pytest>=8",
            "responses>=0.25",
            "hypothesis>=6",
            "schemathesis>=4",
            "kubernetes-validate",
            "ruff>=0.6",
            "mypy>=1.11",
            "types-PyYAML>=6",
        ],
    },
    entry_points={
        "console_scripts": [
            "supernode=supernode.cli:main",
            "dfget=dfget.cli:main",
            "dfdaemon=dfdaemon.cli:main",
        ],
    },
)
