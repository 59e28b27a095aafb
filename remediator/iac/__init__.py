"""Infrastructure as code: reading and patching the templates that own
functions (docs/iac.md). Pure: text in, text out; imports only ``domain``
(and PyYAML, which only this package imports)."""
