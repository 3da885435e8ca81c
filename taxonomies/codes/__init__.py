"""Code systems for mention coding: ICD-10-CM (from ``simple-icd-10-cm``) and SNOMED CT (user-supplied RF2)."""
