"""Reports read findings only: the `Report` of a scan (`document`), its HTML page (`html`), the
terminal summary (`terminal`) and the words around the findings in English and Japanese
(`messages`)."""
