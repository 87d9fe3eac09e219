# Sourced by the GPU scripts (device tool: no internet): install the carried wheelhouse (gpu_wheels/, made by
# ../shared/notes/make_gpu_wheelhouse.sh) into /tmp/site and point Python and the model cache at the checkout.
root=$(pwd)
if [ ! -d /tmp/site/ray ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$root"/gpu_wheels/*.whl
fi
if [ ! -d /tmp/site/deepspeed ]; then
  (cd /tmp && tar xzf "$root"/gpu_wheels/deepspeed-*.tar.gz && cd deepspeed-0.19.8 && \
   DS_BUILD_OPS=0 python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .)
fi
# the tiny models install from data/tiny_models into this cache on first use (no need to carry it: the device tool's
# 64 MiB limit fits the checkout + gpu_wheels, not a third copy of the models)
export PYTHONPATH=/tmp/site:$root MISPO_CACHE=$root/gpu_cache
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
