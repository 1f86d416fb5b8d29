"""Named accelerators, to project a plan's GPU-hours from the FLOPs its probes counted
(logitrepro.plan): seconds = FLOPs / (peak FLOP/s x utilisation).

The peaks are the vendors' datasheet figures for dense BF16 on the tensor cores (the datasheets
print the structured-sparsity figure, twice these, first):

  H100 SXM, H200 SXM  989 TFLOP/s   NVIDIA H100 Tensor Core GPU datasheet (1,979 with sparsity);
                                    H200 datasheet (the same compute as H100 SXM)
  H100 PCIe           756 TFLOP/s   NVIDIA H100 datasheet (1,513 with sparsity)
  A100 SXM            312 TFLOP/s   NVIDIA A100 Tensor Core GPU datasheet (624 with sparsity)
  L4                  121 TFLOP/s   NVIDIA L4 datasheet (242 with sparsity)

The default utilisation, 40%, is the model-FLOPs utilisation that well-tuned training of large
transformers reaches (PaLM reports 46% on TPU v4; Megatron-LM 40-55% on A100s). The papers' small
models (logistic regression, MNIST CNNs, toy heads) reach far less: their steps are bound by
kernel launches and data movement, not arithmetic, so their projection is a lower bound. It
also assumes BF16 arithmetic; FP32 (through TF32 tensor cores) runs at half these rates.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_UTILISATION = 0.40


@dataclass(frozen=True)
class GPU:
    name: str
    peak_tflops: float  # dense BF16, tensor cores

    def seconds(self, flops: float, utilisation: float = DEFAULT_UTILISATION) -> float:
        return flops / (self.peak_tflops * 1e12 * utilisation)


GPUS = {
    "h100-sxm": GPU("NVIDIA H100 SXM", 989.0),
    "h200-sxm": GPU("NVIDIA H200 SXM", 989.0),
    "h100-pcie": GPU("NVIDIA H100 PCIe", 756.0),
    "a100-sxm": GPU("NVIDIA A100 SXM", 312.0),
    "l4": GPU("NVIDIA L4", 121.0),
}
DEFAULT_GPU = "h100-sxm"
