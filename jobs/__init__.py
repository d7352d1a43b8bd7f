"""Training of the bundled prior: corpus crops, the DDPM loop, checkpoints, the fp16 export (``ddnm-batch train``)."""
