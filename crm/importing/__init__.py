"""Contact import: ``inspect`` (encoding, separator, headers, preview), ``mapping`` (which column
feeds which field, and the row parser), ``copy`` (the COPY format, the merge statements and the
writer threads), ``bulk`` (index drop and rebuild for large loads) and ``run`` (the whole run).

The run is built for a million rows: the file is parsed as a stream, each row is normalized
in Python (the phone fast path of ``crm.phones``), valid rows are streamed with ``COPY`` into
a temporary staging table, and every chunk is merged with ONE ``INSERT ... ON CONFLICT``
(which also writes the timeline and list memberships). An import that starts on an empty
table COPYs its chunks straight into it, and a large import into a small table loads without
the search/tag/name indexes and builds them at the end (``bulk_load``). Every row that is not
imported is written, with its reason, to the failed-rows file: nothing valid is dropped
silently.
"""

from crm.importing.bulk import BULK_INDEXES, BULK_MIN_ROWS, bulk_load, contact_indexes_ensure
from crm.importing.copy import IMPORT_COLUMNS_SQL, copy_line, copy_tail
from crm.importing.inspect import (
    ERR_FILE_BINARY,
    ERR_FILE_EMPTY,
    ERR_FILE_NO_HEADER,
    ERR_FILE_TOO_BIG,
    ERR_FILE_TYPE,
    ERR_FILE_UNREADABLE,
    MAX_UPLOAD_MB,
    ImportFileError,
    Inspection,
    count_data_rows,
    detect_delimiter,
    detect_encoding,
    inspect_file,
    iter_rows,
    upload_local_path,
)
from crm.importing.mapping import (
    ERR_MAPPING_PHONE,
    ERR_MAPPING_TWICE,
    ERR_MAPPING_UNKNOWN,
    ERR_ROW_CONSENT,
    ERR_ROW_DUPLICATE,
    ERR_ROW_EMAIL,
    ERR_ROW_FIELD,
    RowParser,
    guess_mapping,
    headers_signature,
    mapping_clean,
    remembered_mapping,
    target_labels,
)
from crm.importing.run import CHUNK_ROWS, FailedRows, run_import

__all__ = [
    "BULK_INDEXES",
    "BULK_MIN_ROWS",
    "CHUNK_ROWS",
    "ERR_FILE_EMPTY",
    "ERR_FILE_NO_HEADER",
    "ERR_FILE_TOO_BIG",
    "ERR_FILE_TYPE",
    "ERR_FILE_BINARY",
    "ERR_FILE_UNREADABLE",
    "ERR_MAPPING_PHONE",
    "ERR_MAPPING_TWICE",
    "ERR_MAPPING_UNKNOWN",
    "ERR_ROW_CONSENT",
    "ERR_ROW_DUPLICATE",
    "ERR_ROW_EMAIL",
    "ERR_ROW_FIELD",
    "IMPORT_COLUMNS_SQL",
    "MAX_UPLOAD_MB",
    "FailedRows",
    "ImportFileError",
    "Inspection",
    "RowParser",
    "bulk_load",
    "contact_indexes_ensure",
    "copy_line",
    "copy_tail",
    "count_data_rows",
    "detect_delimiter",
    "detect_encoding",
    "guess_mapping",
    "headers_signature",
    "inspect_file",
    "iter_rows",
    "mapping_clean",
    "remembered_mapping",
    "run_import",
    "target_labels",
    "upload_local_path",
]
