# The app on 0.0.0.0:7860, built with the same setup path as the README's quick start.
#   docker build -t imitator . && docker run -p 7860:7860 imitator
# Outside this project's build machines, pip takes torch 2.13.0 from PyPI; to keep the image small, build with
#   --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
FROM python:3.11-slim-bookworm
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 \
    HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False \
    IMITATOR_STYLE_DIR=/data/styles
WORKDIR /app
COPY . .
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/* /root/.cache/pip
VOLUME /data
EXPOSE 7860
CMD ["./run.sh", "app", "--host", "0.0.0.0", "--port", "7860"]
