"""Capped exponential backoff with jitter, for reconnects and publication retries."""

import math
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    attempts: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The next wait: base * 2^n, capped, scaled by a random factor in [0.5, 1) so relays are not hit in step."""
        ceiling = min(self.cap_s, math.ldexp(self.base_s, min(self.attempts, 30)))
        self.attempts += 1
        return ceiling * (0.5 + random.random() / 2)  # jitter, not a secret

    def reset(self) -> None:
        self.attempts = 0
