"""When there is no recourse: minimal conflicts, cheapest relaxations, explanations in the person's own terms."""
