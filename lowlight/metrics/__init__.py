"""Image quality (PSNR, SSIM) and feature retrieval (SIFT) metrics."""
