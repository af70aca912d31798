"""The tools that make the book from its sources; run each as ``python -m tools.<name>`` (the Makefile does).

    execution   the book's execution environment (thread counts, CPU kernels), defined once
    notebooks   book/*.md -> executed notebooks/*.ipynb (the golden record)
    nbcompare   compares a re-executed notebook with the golden record
    pages       the pages generated from the book's table (pt20.book): _toc.yml, study plan, status
    i18n        the Chinese edition: catalogs, translated pages and the Chinese site
    scaffold    `make new-chapter`: a new chapter (and part) that already passes the structure checks
"""
