FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir --upgrade pip \
    && /venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 node
COPY --from=build /venv /venv
WORKDIR /home/node
COPY --chown=node:node alembic.ini ./
COPY --chown=node:node migrations ./migrations
COPY --chown=node:node app ./app
USER node
RUN mkdir -m 700 /home/node/data
ENV PATH=/venv/bin:$PATH DATABASE_URL=sqlite:////home/node/data/node.db DATA_DIR=/home/node/data PYTHONUNBUFFERED=1
# X-Forwarded-For/-Proto are believed only from these addresses: set it to the reverse proxy's address (or `*` when
# only the proxy can reach the container)
ENV FORWARDED_ALLOW_IPS=127.0.0.1
# the database, the wallet's money files and the node's keys: keep them across container upgrades
VOLUME /home/node/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
# `serve` brings the database to the newest schema, then serves
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
