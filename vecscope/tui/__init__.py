"""vecscope's Textual app: screens and widgets over the records ``core`` returns."""
