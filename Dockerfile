FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY federation federation
COPY node node
COPY schemas schemas
COPY playbooks playbooks
RUN pip install --no-cache-dir -e .
EXPOSE 8400-8499
