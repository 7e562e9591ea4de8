"""The producer of the zoo: presets, batched training, job running and publishing. Imports rnnzoo, never the reverse."""
