"""Analysis of finished runs: tables, changes against task-specific models, Δm, negative transfer, the study's
numbers, the derived guideline, the advisor and the figures. Everything here only reads run folders."""
