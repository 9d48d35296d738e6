# The supernode: REST API on 8002, CDN piece files on 8001 (one gunicorn process, one gevent worker).
# Build from the repository root:  docker build -f conf/deploy/docker/supernode.Dockerfile -t dragonfly-py/supernode .
FROM python:3.11-slim
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir /src && rm -rf /src
RUN mkdir -p /etc/dragonfly /var/lib/dragonfly/supernode
COPY conf/supernode.yml /etc/dragonfly/supernode.yml
EXPOSE 8002 8001
VOLUME ["/var/lib/dragonfly/supernode"]
# --advertise-ip must be an address peers can reach (Kubernetes passes the pod IP).
ENTRYPOINT ["supernode"]
CMD ["--config", "/etc/dragonfly/supernode.yml", "--home-dir", "/var/lib/dragonfly/supernode", "--port", "8002", "--download-port", "8001"]
