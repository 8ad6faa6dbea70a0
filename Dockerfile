# The worker image: the wagerstream package and its dependencies, nothing else.
FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY wagerstream wagerstream
COPY agents agents
COPY topics topics
COPY sinks sinks
COPY ledger ledger
COPY loadgen loadgen
COPY bench bench
COPY schemas schemas
RUN pip install --no-cache-dir -e .
ENV STATE_DIR=/var/lib/wagerstream WORKER_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["wagerstream", "worker"]
