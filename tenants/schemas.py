"""Company schemas made from the migrated template schema, in one round trip.

A company's schema is not built by running every tenant migration (seconds, and more with each
migration) nor by django-tenants' ``clone_schema()`` (it searches ``information_schema`` across
the whole database: 190 s per company at 300 companies). The template schema
(``settings.TENANT_TEMPLATE_SCHEMA``) is kept a fresh migration of the current code
(:func:`template_ensure`); :func:`schema_ddl` reads it from ``pg_catalog`` only, finding its
objects through indexed catalog lookups, and writes the SQL that recreates it: enum types,
functions, sequences, tables (columns, types, defaults, identity, generated columns, named
not-null constraints, primary key, unique, check and exclusion constraints), the rows
migrations left (``django_migrations``, content types), sequence positions, views, indexes,
foreign keys, triggers and comments. The SQL names no
schema of its own (it is generated with the template alone on the ``search_path``, so
PostgreSQL prints the template's objects unqualified and everything else, such as
``public.vector`` or ``public.tenants_user``, qualified); :func:`schema_create` runs it with the
new schema alone on the ``search_path``. Nothing is substituted in text, so no string in a
default or a comment can be rewritten by mistake.

The SQL is generated once per migration state of the template (a hash of its applied
migrations) and kept in the process; a new migration applied to the template changes the hash,
and the next company regenerates it. Generation costs about a tenth of a second and reads only
the template's own catalog rows, so it does not grow with the number of companies, and neither
does replaying it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

logger = logging.getLogger(__name__)

# Bumped whenever the generator changes what it writes, so cached SQL of an older generator is
# never replayed.
GENERATOR_VERSION = "3"
# Serialises migrating the template (exclusive) against making a company from it (shared): a
# company is made from one migration state, and exists before ``bootstrap`` lists the
# companies it migrates after the template.
TEMPLATE_LOCK = 0x6D69_7465  # "mite"

_cache: dict[str, str] = {}
_cache_lock = threading.Lock()
_template_checked = False


class TemplateUnsupported(RuntimeError):
    """The template holds an object the generator cannot reproduce faithfully."""


def template_schema() -> str:
    return settings.TENANT_TEMPLATE_SCHEMA


# --- The migration state ------------------------------------------------------------------


def migration_state(schema: str) -> str:
    """A hash of the migrations applied to ``schema`` (which must have a migrations table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(app || '.' || name, ',' ORDER BY app, name), ''))"
                " FROM {}.django_migrations"
            ).format(sql.Identifier(schema))
        )
        return f"{GENERATOR_VERSION}:{schema}:{cursor.fetchone()[0]}"


def template_ready() -> bool:
    """Whether the template schema exists with its migrations table (it is then migrated as
    far as ``bootstrap`` took it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.to_regclass(pg_catalog.format('%%I.django_migrations', %s::text)) IS NOT NULL",
            [template_schema()],
        )
        return bool(cursor.fetchone()[0])


def schemas_behind(schema_names: list[str], state: str, chunk: int = 250) -> list[str]:
    """Those of ``schema_names`` whose applied migrations differ from ``state`` (a
    :func:`migration_state` of the template) or that have no migrations table: the companies
    ``bootstrap`` must migrate. A few statements for thousands of schemas, where asking the
    migration executor about each schema takes a good part of a second."""
    wanted = state.rsplit(":", 1)[1]
    behind = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(%s)"
            " AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
            "   WHERE c.relnamespace = n.oid AND c.relname = 'django_migrations' AND c.relkind = 'r')",
            [schema_names],
        )
        with_table = {row[0] for row in cursor.fetchall()}
        behind += [name for name in schema_names if name not in with_table]
        names = [name for name in schema_names if name in with_table]
        for start in range(0, len(names), chunk):
            part = names[start : start + chunk]
            query = sql.SQL(" UNION ALL ").join(
                sql.SQL(
                    "SELECT {name}, pg_catalog.md5(coalesce(pg_catalog.string_agg(app || '.' || name, ','"
                    " ORDER BY app, name), '')) FROM {table}"
                ).format(name=sql.Literal(name), table=sql.Identifier(name, "django_migrations"))
                for name in part
            )
            cursor.execute(query)
            behind += [name for name, digest in cursor.fetchall() if digest != wanted]
    return sorted(behind)


# --- Generating the SQL from pg_catalog ---------------------------------------------------

# The schema's members, found through pg_depend's index on the referenced object (every
# relation, type and function records a dependency on its namespace). ``relnamespace = ...``
# would read the whole of pg_class, which has no index on it: with a thousand companies that is
# 130,000 rows per query, and generation would grow with the number of companies.
_MEMBERS = (
    "(SELECT d.objid FROM pg_catalog.pg_depend d WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass"
    " AND d.refobjid = %(ns)s AND d.classid = 'pg_catalog.{catalog}'::regclass AND d.deptype = 'n')"
)
_RELS = _MEMBERS.format(catalog="pg_class")
_TYPES = _MEMBERS.format(catalog="pg_type")
_PROCS = _MEMBERS.format(catalog="pg_proc")
_INDEXES_OF_RELS = f"(SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid IN {_RELS})"

# What the generator does not reproduce: when the template holds any of it, generation fails
# loudly (and company creation falls back to migrating). Reproduced are tables, sequences,
# views and materialized views, enums, functions and procedures, and what hangs off them.
_UNSUPPORTED = f"""
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0)
FROM pg_catalog.pg_depend d
WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass AND d.refobjid = %(ns)s AND d.deptype = 'n'
  AND (NOT ((d.classid = 'pg_catalog.pg_class'::regclass
             AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = d.objid) IN ('r', 'S', 'v', 'm'))
            OR (d.classid = 'pg_catalog.pg_type'::regclass
                AND (SELECT typtype FROM pg_catalog.pg_type WHERE oid = d.objid) = 'e')
            OR (d.classid = 'pg_catalog.pg_proc'::regclass
                AND (SELECT prokind FROM pg_catalog.pg_proc WHERE oid = d.objid) IN ('f', 'p')))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                   WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e'))
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_catalog.pg_rewrite r WHERE r.ev_class IN {_RELS} AND r.rulename <> '_RETURN'
UNION ALL
SELECT 'row security on ' || c.relname FROM pg_catalog.pg_class c
WHERE c.oid IN {_RELS} AND (c.relrowsecurity OR c.relforcerowsecurity)
UNION ALL
SELECT 'policy ' || p.polname FROM pg_catalog.pg_policy p WHERE p.polrelid IN {_RELS}
UNION ALL
SELECT 'inheritance of ' || i.inhrelid::regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid IN {_RELS}
"""

_ENUMS = f"""
SELECT t.oid, pg_catalog.quote_ident(t.typname),
       pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid
WHERE t.oid IN {_TYPES} AND t.typtype = 'e'
GROUP BY t.oid, t.typname ORDER BY t.oid
"""

_FUNCTIONS = f"""
SELECT p.oid, pg_catalog.pg_get_functiondef(p.oid), pg_catalog.quote_ident(n.nspname),
       pg_catalog.quote_ident(p.proname), p.prokind
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.oid IN {_PROCS} ORDER BY p.oid
"""

# Sequences that are not an identity column's own (those come with their column).
_SEQUENCES = f"""
SELECT c.oid, pg_catalog.quote_ident(c.relname), c.relpersistence,
       pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
       s.seqcache, s.seqcycle,
       (SELECT pg_catalog.quote_ident(t.relname) || '.' || pg_catalog.quote_ident(a.attname)
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
          JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
           AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
WHERE c.oid IN {_RELS} AND c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')
ORDER BY c.oid
"""

_TABLES = f"""
SELECT c.oid, pg_catalog.quote_ident(c.relname), c.relpersistence,
       pg_catalog.array_to_string(c.reloptions, ', ')
FROM pg_catalog.pg_class c WHERE c.oid IN {_RELS} AND c.relkind = 'r' ORDER BY c.oid
"""

_COLUMNS = f"""
SELECT a.attrelid, pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, a.attidentity, a.attgenerated,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
         (SELECT CASE WHEN co.collnamespace = 'pg_catalog'::regnamespace THEN ''
                      ELSE pg_catalog.quote_ident(cn.nspname) || '.' END || pg_catalog.quote_ident(co.collname)
            FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
           WHERE co.oid = a.attcollation) END,
       (SELECT pg_catalog.quote_ident(n.conname) FROM pg_catalog.pg_constraint n
         WHERE n.conrelid = a.attrelid AND n.contype = 'n' AND n.conkey[1] = a.attnum),
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
       NULLIF(a.attcompression, ''),
       NULLIF(a.attstattarget, -1),
       (SELECT pg_catalog.quote_ident(sc.relname) || ' START WITH ' || s.seqstart
               || ' INCREMENT BY ' || s.seqincrement || ' MINVALUE ' || s.seqmin || ' MAXVALUE ' || s.seqmax
               || ' CACHE ' || s.seqcache || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class sc ON sc.oid = d.objid
          JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
           AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i')
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.oid IN {_RELS} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Where each sequence stands: a sequence that numbers a column (identity or serial) follows the
# rows copied into it (its highest value, or untouched when there is none), as ``sqlsequencereset``
# would set it; any other keeps the template's position.
_SEQUENCE_VALUES = f"""
SELECT pg_catalog.quote_literal(pg_catalog.quote_ident(c.relname)), pg_catalog.pg_sequence_last_value(c.oid),
       (SELECT pg_catalog.quote_ident(t.relname) FROM pg_catalog.pg_class t WHERE t.oid = d.refobjid),
       (SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid)
FROM pg_catalog.pg_class c
LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
  AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
WHERE c.oid IN {_RELS} AND c.relkind = 'S' ORDER BY c.oid
"""

# Every table constraint but not-null ones (those come with their column): primary keys,
# unique, exclusion and check constraints, then foreign keys.
_CONSTRAINTS = f"""
SELECT k.oid, pg_catalog.quote_ident(c.relname), pg_catalog.quote_ident(k.conname),
       pg_catalog.pg_get_constraintdef(k.oid), k.contype, k.conrelid, k.convalidated, k.confrelid, k.conindid
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
WHERE c.oid IN {_RELS} AND k.contype IN ('p', 'u', 'x', 'c', 'f') AND k.conislocal
ORDER BY CASE k.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END, k.oid
"""

_VIEWS = f"""
SELECT c.oid, pg_catalog.quote_ident(c.relname), c.relkind, pg_catalog.pg_get_viewdef(c.oid),
       pg_catalog.array_to_string(c.reloptions, ', '), c.relispopulated
FROM pg_catalog.pg_class c WHERE c.oid IN {_RELS} AND c.relkind IN ('v', 'm') ORDER BY c.oid
"""

_INDEXES = f"""
SELECT pg_catalog.pg_get_indexdef(i.indexrelid), i.indisclustered,
       pg_catalog.quote_ident(t.relname), pg_catalog.quote_ident(ic.relname),
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_namespace n ON n.oid = %(ns)s
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
WHERE i.indrelid IN {_RELS}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                   WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY i.indexrelid
"""

_TRIGGERS = f"""
SELECT pg_catalog.pg_get_triggerdef(g.oid), g.tgenabled, pg_catalog.quote_ident(c.relname),
       pg_catalog.quote_ident(g.tgname), pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = %(ns)s
WHERE c.oid IN {_RELS} AND NOT g.tgisinternal ORDER BY g.oid
"""

_COMMENTS = f"""
SELECT 'COMMENT ON ' || CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'i' THEN 'INDEX' WHEN 'S' THEN 'SEQUENCE' END || ' '
       || pg_catalog.quote_ident(c.relname), d.objsubid, c.oid, d.description
FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c
  ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = c.oid
WHERE (c.oid IN {_RELS} OR c.oid IN {_INDEXES_OF_RELS}) AND d.objsubid = 0
UNION ALL
SELECT 'COMMENT ON COLUMN ' || pg_catalog.quote_ident(c.relname) || '.' || pg_catalog.quote_ident(a.attname),
       d.objsubid, c.oid, d.description
FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_class c ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = c.oid
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
WHERE c.oid IN {_RELS} AND d.objsubid > 0
UNION ALL
SELECT 'COMMENT ON CONSTRAINT ' || pg_catalog.quote_ident(k.conname) || ' ON ' || pg_catalog.quote_ident(c.relname),
       0, k.oid, d.description
FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_constraint k ON d.classoid = 'pg_catalog.pg_constraint'::regclass AND d.objoid = k.oid
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
WHERE c.oid IN {_RELS}
UNION ALL
SELECT 'COMMENT ON ' || CASE p.prokind WHEN 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END
       || pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       0, p.oid, d.description
FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_proc p ON d.classoid = 'pg_catalog.pg_proc'::regclass AND d.objoid = p.oid
WHERE p.oid IN {_PROCS}
UNION ALL
SELECT 'COMMENT ON TRIGGER ' || pg_catalog.quote_ident(g.tgname) || ' ON ' || pg_catalog.quote_ident(c.relname),
       0, g.oid, d.description
FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_trigger g ON d.classoid = 'pg_catalog.pg_trigger'::regclass AND d.objoid = g.oid
JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
WHERE c.oid IN {_RELS}
UNION ALL
SELECT 'COMMENT ON TYPE ' || pg_catalog.quote_ident(t.typname), 0, t.oid, d.description
FROM pg_catalog.pg_description d
JOIN pg_catalog.pg_type t ON d.classoid = 'pg_catalog.pg_type'::regclass AND d.objoid = t.oid
WHERE t.oid IN {_TYPES} AND t.typtype = 'e'
ORDER BY 3, 2
"""

_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}


@dataclass
class _Column:
    name: str
    type: str
    not_null: bool
    identity: str
    generated: str
    default: str | None
    collation: str | None
    not_null_name: str | None
    storage: str | None
    compression: str | None
    statistics: int | None
    identity_sequence: str | None

    def definition(self) -> str:
        parts = [self.name, self.type]
        if self.collation:
            parts.append(f"COLLATE {self.collation}")
        if self.generated:
            kind = "STORED" if self.generated == "s" else "VIRTUAL"
            parts.append(f"GENERATED ALWAYS AS ({self.default}) {kind}")
        elif self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.not_null:
            parts.append(f"CONSTRAINT {self.not_null_name} NOT NULL" if self.not_null_name else "NOT NULL")
        if self.identity:
            when = "ALWAYS" if self.identity == "a" else "BY DEFAULT"
            parts.append(f"GENERATED {when} AS IDENTITY (SEQUENCE NAME {self.identity_sequence})")
        return " ".join(parts)


def _unqualified(definition: str, qualified: str, plain: str) -> str:
    """``definition`` with its one schema-qualified table reference made plain. PostgreSQL
    always qualifies the table of an index or trigger definition, except in its "pretty" form,
    which we do not use: it drops parentheses that change what a predicate such as
    ``state::text = ANY ((ARRAY[...])::text[])`` means when read back."""
    head, found, tail = definition.partition(qualified)
    if not found:
        raise TemplateUnsupported(f"unexpected definition: {definition}")
    return head + plain + tail


def schema_ddl(schema: str) -> str:
    """SQL that recreates ``schema``'s objects and rows in whichever schema is first (and
    alone) on the ``search_path`` when it runs. Raises :class:`TemplateUnsupported` for objects
    it cannot reproduce (see ``_UNSUPPORTED_CATALOGS``) or when the schema's own name would
    remain in the SQL (a function body or setting naming it)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # The template alone on the path: PostgreSQL prints its objects unqualified and every
        # other schema's (public.vector, public.tenants_user) qualified. Set for the transaction
        # only, and put back at the end (a caller's transaction goes on after this one).
        cursor.execute(
            "SELECT pg_catalog.current_setting('search_path'),"
            " pg_catalog.set_config('search_path', pg_catalog.quote_ident(%s), true)",
            [schema],
        )
        saved_search_path = cursor.fetchone()[0]
        cursor.execute("SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema])
        row = cursor.fetchone()
        if row is None:
            raise TemplateUnsupported(f"schema {schema} does not exist")
        params = {"ns": row[0]}

        def rows(query: str) -> list[tuple]:
            cursor.execute(query, params)
            return cursor.fetchall()

        problems = [name for (name,) in rows(_UNSUPPORTED)]
        if problems:
            raise TemplateUnsupported("cannot reproduce " + "; ".join(problems))

        out: list[str] = []
        for _oid, name, labels in rows(_ENUMS):
            out.append(f"CREATE TYPE {name} AS ENUM ({labels or ''});")
        for _oid, definition, nsp, name, kind in rows(_FUNCTIONS):
            # pg_get_functiondef always qualifies the name: take the schema off the head.
            word = "PROCEDURE" if kind == "p" else "FUNCTION"
            head = f"CREATE OR REPLACE {word} {nsp}.{name}("
            if not definition.startswith(head):
                raise TemplateUnsupported(f"unexpected definition of function {name}")
            out.append(f"CREATE {word} {name}(" + definition[len(head) :].rstrip() + ";")
        owned: list[str] = []
        for _oid, name, persistence, type_, start, step, low, high, cache, cycle, owner in rows(_SEQUENCES):
            unlogged = "UNLOGGED " if persistence == "u" else ""
            out.append(
                f"CREATE {unlogged}SEQUENCE {name} AS {type_} INCREMENT BY {step} MINVALUE {low} MAXVALUE {high}"
                f" START WITH {start} CACHE {cache}{' CYCLE' if cycle else ' NO CYCLE'};"
            )
            if owner:
                owned.append(f"ALTER SEQUENCE {name} OWNED BY {owner};")
        columns: dict[int, list[_Column]] = {}
        for attrelid, *values in rows(_COLUMNS):
            columns.setdefault(attrelid, []).append(_Column(*values))
        tables = rows(_TABLES)
        # Rows the migrations left (django_migrations, content types), as JSON the new tables
        # read back: exact values of every type, no per-type quoting here.
        data: dict[int, str] = {}
        for oid, name, _persistence, _options in tables:
            cursor.execute(
                sql.SQL("SELECT pg_catalog.quote_literal(pg_catalog.json_agg(t)::text) FROM {} t").format(sql.SQL(name))
            )
            literal = cursor.fetchone()[0]
            if literal is not None:
                data[oid] = literal
        constraints = rows(_CONSTRAINTS)
        # Constraints go inside CREATE TABLE where they can (one catalog change per table, and
        # no check of rows a new table does not have): primary keys, unique, exclusion and check
        # constraints, and foreign keys to a table made before (or to itself, or outside the
        # schema) through one of those. The others come after the tables and their indexes:
        # a NOT VALID check, a foreign key through a unique index, or out of a table that gets
        # rows (they must all be in first).
        position = {oid: n for n, (oid, *_rest) in enumerate(tables)}
        inline: dict[int, list[str]] = {}
        inline_indexes: set[int] = set()
        for _oid, _table, name, definition, kind, relid, valid, _frelid, index in constraints:
            if kind != "f" and valid:
                inline.setdefault(relid, []).append(f"CONSTRAINT {name} {definition}")
                inline_indexes.add(index)
        fks_after: list[str] = []
        for _oid, table, name, definition, kind, relid, _valid, frelid, index in constraints:
            if kind != "f":
                continue
            target_ready = frelid not in position or (position[frelid] <= position[relid] and index in inline_indexes)
            if target_ready and relid not in data:
                inline.setdefault(relid, []).append(f"CONSTRAINT {name} {definition}")
            else:
                fks_after.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};")
        after_tables: list[str] = []
        for oid, name, persistence, options in tables:
            cols = columns.get(oid, [])
            unlogged = "UNLOGGED " if persistence == "u" else ""
            body = ",\n  ".join([column.definition() for column in cols] + inline.get(oid, []))
            with_ = f" WITH ({options})" if options else ""
            out.append(f"CREATE {unlogged}TABLE {name} (\n  {body}\n){with_};")
            for column in cols:
                if column.storage:
                    after_tables.append(
                        f"ALTER TABLE {name} ALTER COLUMN {column.name} SET STORAGE {_STORAGE[column.storage]};"
                    )
                if column.compression:
                    after_tables.append(
                        f"ALTER TABLE {name} ALTER COLUMN {column.name} SET COMPRESSION {column.compression};"
                    )
                if column.statistics is not None:
                    after_tables.append(
                        f"ALTER TABLE {name} ALTER COLUMN {column.name} SET STATISTICS {column.statistics};"
                    )
        out.extend(owned)
        out.extend(after_tables)
        for oid, name, _persistence, _options in tables:
            if oid not in data:
                continue
            cols = [c for c in columns.get(oid, []) if not c.generated]
            names = ", ".join(c.name for c in cols)
            overriding = " OVERRIDING SYSTEM VALUE" if any(c.identity == "a" for c in cols) else ""
            literal = data[oid]
            out.append(
                f"INSERT INTO {name} ({names}){overriding} SELECT {names}"
                f" FROM pg_catalog.json_populate_recordset(NULL::{name}, {literal});"
            )
            if name == "django_migrations":
                out.append("UPDATE django_migrations SET applied = pg_catalog.now();")
        for name, value, table, column in rows(_SEQUENCE_VALUES):
            if table is not None:
                cursor.execute(f"SELECT pg_catalog.max({column})::text FROM {table}")
                value = cursor.fetchone()[0]
            if value is not None:
                out.append(f"SELECT pg_catalog.setval({name}, {value}, true);")
        for _oid, table, name, definition, kind, _relid, valid, _frelid, _index in constraints:
            if kind != "f" and not valid:
                out.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};")
        for _oid, name, kind, definition, options, populated in rows(_VIEWS):
            query = definition.strip().rstrip(";")
            if kind == "v":
                with_ = f" WITH ({options})" if options else ""
                out.append(f"CREATE VIEW {name}{with_} AS\n{query};")
            else:
                with_ = f" WITH ({options})" if options else ""
                data_ = "WITH DATA" if populated else "WITH NO DATA"
                out.append(f"CREATE MATERIALIZED VIEW {name}{with_} AS\n{query}\n{data_};")
        for definition, clustered, table, index, qualified in rows(_INDEXES):
            out.append(_unqualified(definition, f" ON {qualified} USING ", f" ON {table} USING ") + ";")
            if clustered:
                out.append(f"ALTER TABLE {table} CLUSTER ON {index};")
        out.extend(fks_after)
        for definition, enabled, table, name, qualified in rows(_TRIGGERS):
            out.append(_unqualified(definition, f" ON {qualified} ", f" ON {table} ") + ";")
            state = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}.get(enabled)
            if state:
                out.append(f"ALTER TABLE {table} {state} TRIGGER {name};")
        for target, _subid, _oid, description in rows(_COMMENTS):
            cursor.execute("SELECT pg_catalog.quote_literal(%s)", [description])
            out.append(f"{target} IS {cursor.fetchone()[0]};")
        cursor.execute("SELECT pg_catalog.set_config('search_path', %s, true)", [saved_search_path])
    ddl = "\n".join(out) + "\n"
    own_name = re.compile(r"(?<![\w$])" + re.escape(schema) + r"(?![\w$])")
    found = own_name.search(ddl)
    if found:
        snippet = ddl[max(0, found.start() - 80) : found.end() + 80]
        raise TemplateUnsupported(f"the SQL would still name schema {schema}: ...{snippet}...")
    return ddl


# --- The template and the cached SQL --------------------------------------------------------


def template_ensure() -> None:
    """Make the template schema a fresh migration of the current code when it is missing or any
    migration is not applied to it yet. Rebuilt from nothing rather than migrated step by step:
    a template migrated step by step numbers rows differently from a fresh migration (the
    content types of a new app come after the old ones), and new companies should be what
    migrating an empty schema gives. Holds the template lock, so no company is made from it
    halfway through (``bootstrap`` runs this before it migrates the companies)."""
    from django.core.management import call_command

    name = template_schema()
    with _template_lock_exclusive():
        if schema_behind_code(name):
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
                cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            call_command("migrate_schemas", schema_name=name, interactive=False, verbosity=0)
            cache_clear()
        connection.set_schema_to_public()  # type: ignore[attr-defined]


@contextmanager
def _template_lock_exclusive() -> Iterator[None]:
    """The template lock, exclusive, on a connection of its own: migrating closes Django's
    connection, which with a connection pool goes back to the pool still holding a session
    lock taken on it (and every later company would wait for it)."""
    params = {
        key: value
        for key, value in connection.get_connection_params().items()
        if key not in ("cursor_factory", "context", "prepare_threshold")
    }
    with psycopg.connect(autocommit=True, **params) as lock:
        lock.execute("SELECT pg_catalog.pg_advisory_lock(%s)", [TEMPLATE_LOCK])
        try:
            yield
        finally:
            lock.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", [TEMPLATE_LOCK])


def schema_behind_code(name: str) -> bool:
    """Whether the code has a migration that schema ``name`` lacks (or it does not exist)."""
    from django.db.migrations.executor import MigrationExecutor

    connection.set_schema(name, include_public=False)  # type: ignore[attr-defined]
    try:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def template_ddl() -> tuple[str, str]:
    """``(state, sql)``: the template's migration state and the SQL that recreates it, from the
    process's cache or generated now. Call inside a transaction holding the template lock
    (shared), as :func:`schema_create` does."""
    name = template_schema()
    state = migration_state(name)
    ddl = _cache.get(state)
    if ddl is None:
        ddl = schema_ddl(name)
        # A migration committed while we read the catalog would make the SQL a mix of two
        # states: keep it only if the state did not move meanwhile (the lock makes that rare).
        if migration_state(name) != state:
            raise TemplateUnsupported("the template changed while its SQL was generated; try again")
        with _cache_lock:
            _cache[state] = ddl
            for old in [key for key in _cache if key != state]:
                del _cache[old]
        logger.info("generated the company schema SQL for migration state %s (%d bytes)", state, len(ddl))
    return state, ddl


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def replay_script(schema_name: str, ddl: str) -> str:
    """The one statement batch that makes ``schema_name`` from ``ddl``: the new schema alone on
    the ``search_path`` while it runs, then the caller's ``search_path`` back."""
    ident = sql.Identifier(schema_name).as_string(connection.connection)
    return (
        f"CREATE SCHEMA {ident};\n"
        "SELECT pg_catalog.set_config('masteria.saved_search_path', pg_catalog.current_setting('search_path'), true),"
        f" pg_catalog.set_config('search_path', {sql.Literal(ident).as_string(connection.connection)}, true),"
        " pg_catalog.set_config('masteria.saved_check_function_bodies',"
        " pg_catalog.current_setting('check_function_bodies'), true),"
        " pg_catalog.set_config('check_function_bodies', 'off', true);\n"
        f"{ddl}"
        "SELECT pg_catalog.set_config('search_path', pg_catalog.current_setting('masteria.saved_search_path'), true),"
        " pg_catalog.set_config('check_function_bodies',"
        " pg_catalog.current_setting('masteria.saved_check_function_bodies'), true);\n"
    )


def template_ready_or_ensure() -> None:
    """Make sure the template exists and has every migration of this process's code, once per
    process: a fresh database whose ``bootstrap`` has not run yet, or a deploy that added a
    migration (a new app's, say) and ran ``migrate_schemas`` instead of ``bootstrap``, would
    otherwise have companies made from a template without it. The SQL follows by itself (it is
    kept per migration state). Call outside a transaction: migrating commits."""
    global _template_checked
    if not _template_checked:
        if not template_ready() or schema_behind_code(template_schema()):
            template_ensure()
        _template_checked = True


@transaction.atomic
def schema_create(schema_name: str) -> None:
    """Make ``schema_name`` as the migrated template is: one query for the template's migration
    state, one round trip for the whole schema. Runs in the caller's transaction when there is
    one, so a company row and its schema commit together (or not at all).

    Should the template hold something the generator cannot reproduce, the schema is migrated
    instead (slow, and logged as an error: the schema comparison test fails on it first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_catalog.pg_advisory_xact_lock_shared(%s)", [TEMPLATE_LOCK])
    try:
        _state, ddl = template_ddl()
    except TemplateUnsupported:
        logger.exception("company schema %s: migrating instead of replaying the template", schema_name)
        _schema_migrate(schema_name)
        return
    with connection.cursor() as cursor:
        cursor.execute(replay_script(schema_name, ddl))


def _schema_migrate(schema_name: str) -> None:
    from django.core.management import call_command

    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_name)))
    call_command("migrate_schemas", schema_name=schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
