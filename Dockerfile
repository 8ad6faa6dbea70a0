# The one image of every wagerstream role (worker, relay, sink, topics, migrate): the package
# and its dependencies, nothing else (.dockerignore keeps the rest out of the context).
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
# not root: a system user owns only the state folder (the workers' RocksDB tables)
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin wagerstream \
    && mkdir -p /var/lib/wagerstream && chown wagerstream /var/lib/wagerstream
USER wagerstream
ENV WAGERSTREAM_STATE_DIR=/var/lib/wagerstream WAGERSTREAM_WORKER_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["wagerstream", "worker"]
