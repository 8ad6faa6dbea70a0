# The worker image: the wagerstream package and its dependencies, nothing else.
FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
# one folder per layer (README, "Where things are")
COPY foundation foundation
COPY schemas schemas
COPY topics topics
COPY ledger ledger
COPY sinks sinks
COPY agents agents
COPY loadgen loadgen
COPY tooling tooling
COPY bench bench
COPY wagerstream wagerstream
RUN pip install --no-cache-dir -e .
ENV WAGERSTREAM_STATE_DIR=/var/lib/wagerstream WAGERSTREAM_WORKER_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["wagerstream", "worker"]
