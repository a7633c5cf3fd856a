"""Everything that proves an interval without a MIP solver: score bounds over boxes, CROWN-style ReLU bounds,
counterfactuals as affine forms with proven errors."""
