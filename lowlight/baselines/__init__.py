"""Methods to compare against: classic enhancers (gamma, histogram equalisation, LIME) and GPE."""
