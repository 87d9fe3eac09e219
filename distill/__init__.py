"""Self-distillation merge of domain experts into one student: see issue 7."""
