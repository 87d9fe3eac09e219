# One Dockerfile for every sandbox image. With a registry: `docker build --build-arg PACKAGES="python3" ...`
# installs the packages on debian:bookworm-slim. Offline (scripts/build_sandbox_images.sh): BASE is a local image
# made by debootstrap + `docker import` that already has the packages, so the apt step is skipped.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG PACKAGES="python3"
RUN missing=""; for p in ${PACKAGES}; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done; \
    if [ -n "$missing" ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
      && rm -rf /var/lib/apt/lists/*; fi
# uid 1000 runs candidate code and agents; uid 1001 runs hidden tests and owns their results (/tests, mode 700).
RUN (getent group 1000 || groupadd -g 1000 sandbox) && (getent passwd 1000 || useradd -m -u 1000 -g 1000 -s /bin/bash sandbox) \
    && groupadd -g 1001 judge && useradd -M -u 1001 -g 1001 -s /bin/bash judge \
    && mkdir -p /work /tests /app && chown 1000:1000 /work /app && chown 1001:1001 /tests && chmod 700 /tests
COPY harness/ /opt/mispo/
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 HOME=/work
USER 1000
WORKDIR /work
CMD ["sleep", "infinity"]
