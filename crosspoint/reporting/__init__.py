"""Summary tables, figures and the headline of the record, from the evaluations' metrics."""
