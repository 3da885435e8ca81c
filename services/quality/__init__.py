"""Quality assurance over the store: agreement, adjudication, gold checks, suggestion acceptance, the audit trail."""
