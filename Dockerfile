# The dashboard on CPU:
#   docker build -t fer-dashboard .
#   docker run -p 127.0.0.1:8501:8501 -v fer-results:/root/.fer-dashboard fer-dashboard
# With an NVIDIA GPU (NVIDIA Container Toolkit on the host), install the CUDA build of
# torch instead (drop the --index-url line below) and run with `--gpus all`; the app
# uses CUDA when torch sees it. Mount your datasets with -v /data:/data:ro and add them
# on the Datasets page (allow them with -e FER_DATA_ROOTS=/data), or set
# FER_DATASETS="FER2013=fer2013:/data/fer2013".
# The container listens on 0.0.0.0 so that the host's port mapping reaches it; the app has
# no login, so publish it on the host's loopback only (-p 127.0.0.1:8501:8501) or behind a
# reverse proxy that authenticates users.
FROM python:3.11-slim-bookworm

# OpenCV (opencv-contrib-python) needs libGL and glib at run time. Not pinned: Debian
# replaces these with security updates and removes the old versions from its mirror.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt constraints.txt ./
# The CPU build of torch keeps the image small; requirements.txt then finds it installed.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY core core
COPY dashboard dashboard
COPY pages pages
COPY weights weights
COPY .streamlit .streamlit

EXPOSE 8501
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"]
CMD ["streamlit", "run", "dashboard/app.py", "--server.address=0.0.0.0", "--server.port=8501"]
