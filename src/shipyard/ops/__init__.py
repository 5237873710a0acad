"""Operations: alert policies as code and the production checklist."""
