# The client side of one host: dfdaemon (registry mirror / proxy on 127.0.0.1:65001) and dfget.
# Build from the repository root (.dockerignore keeps .git, .venv and tests out of the context):
#   docker build -f conf/deploy/docker/client.Dockerfile -t dragonfly-py/client:0.1.0 .
# dfget's upload server listens on a port in 15000-65000: run with host networking.

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
 && mkdir -p /etc/dragonfly /var/lib/dragonfly \
 && chown -R 10001:10001 /var/lib/dragonfly
COPY conf/dfdaemon.yml /etc/dragonfly/dfdaemon.yml
COPY conf/dfget.yml /etc/dragonfly/dfget.yml
USER 10001:10001
ENV HOME=/var/lib/dragonfly
EXPOSE 65001
VOLUME ["/var/lib/dragonfly"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:65001/debug/version', timeout=4)"]
ENTRYPOINT ["dfdaemon"]
CMD ["--config", "/etc/dragonfly/dfdaemon.yml", "--port", "65001", "--hostIp", "127.0.0.1", "--workHome", "/var/lib/dragonfly"]
