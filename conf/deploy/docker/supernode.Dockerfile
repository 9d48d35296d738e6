# The supernode: REST API on 8002, CDN piece files on 8001 (one gunicorn process, one gevent worker).
# Build from the repository root (.dockerignore keeps .git, .venv and tests out of the context):
#   docker build -f conf/deploy/docker/supernode.Dockerfile -t dragonfly-py/supernode:0.1.0 .

# Stage 1: build and install the package under /install (the sources never reach the image).
FROM python:3.11-slim AS build
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir --prefix=/install /src

# Stage 2: the runtime, as an unprivileged user.
FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN groupadd --system --gid 10001 dragonfly \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/dragonfly --no-create-home dragonfly \
 && mkdir -p /etc/dragonfly /var/lib/dragonfly/supernode \
 && chown -R 10001:10001 /var/lib/dragonfly
COPY conf/supernode.yml /etc/dragonfly/supernode.yml
USER 10001:10001
EXPOSE 8002 8001
VOLUME ["/var/lib/dragonfly/supernode"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/_ping', timeout=4)"]
# --advertise-ip must be an address peers can reach (Kubernetes passes the pod IP).
ENTRYPOINT ["supernode"]
CMD ["--config", "/etc/dragonfly/supernode.yml", "--home-dir", "/var/lib/dragonfly/supernode", "--port", "8002", "--download-port", "8001"]
