"""Staff pages, per capability: views, forms and urls together (templates under templates/collections_app/)."""
