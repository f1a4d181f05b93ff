"""Compliance reports over a period of the journal: gathered figures, charts, HTML/PDF/CSV.

``data.gather`` reads the journal (through the query side of ``JournalStore``) into a frozen
``Report``; ``charts`` draws its two charts with matplotlib's Agg backend; ``html``, ``pdf``
and ``table`` render it.  Nothing here writes to the journal.  Times are in the rules'
timezone.  matplotlib and reportlab are the optional ``report`` extra.
"""
