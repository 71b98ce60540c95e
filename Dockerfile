# A Beacon node (or the one-shot `beacon nats setup`): the package installed, not a checkout.
# schemas/ and playbooks/ are installed to <prefix>/share/beacon (pyproject data-files).
FROM python:3.11-slim
COPY pyproject.toml README.md /src/
COPY federation /src/federation
COPY node /src/node
COPY schemas /src/schemas
COPY playbooks /src/playbooks
RUN pip install --no-cache-dir /src && rm -rf /src
# The node's bundle (config, keys, data/) is mounted here; its paths are relative to it.
WORKDIR /bundle
EXPOSE 8400
