"""Staff pages of a case: the case page, its timeline and actions (views), their forms."""
