# The client side of one host: dfdaemon (registry mirror / proxy on 65001) and dfget.
# Build from the repository root:  docker build -f conf/deploy/docker/client.Dockerfile -t dragonfly-py/client .
# dfget's upload server listens on a port in 15000-65000: run with host networking.
FROM python:3.11-slim
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir /src && rm -rf /src
RUN mkdir -p /etc/dragonfly /var/lib/dragonfly
COPY conf/dfdaemon.yml /etc/dragonfly/dfdaemon.yml
COPY conf/dfget.yml /etc/dragonfly/dfget.yml
EXPOSE 65001
VOLUME ["/var/lib/dragonfly"]
ENTRYPOINT ["dfdaemon"]
CMD ["--config", "/etc/dragonfly/dfdaemon.yml", "--port", "65001", "--hostIp", "127.0.0.1", "--workHome", "/var/lib/dragonfly", "--dfpath", "/usr/local/bin/dfget"]
