"""The game network stack: the policy/value ResNet, its inference copy and batched evaluator,
int8 quantization, CPU feature checks and checkpoint files."""
