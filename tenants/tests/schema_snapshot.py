"""A schema described object by object, to compare two schemas (tests only).

Written apart from ``tenants.schemas`` on purpose, and through other catalog paths where
PostgreSQL has them (``information_schema`` columns, ``pg_indexes``, ``pg_sequences``,
``pg_describe_object``): a mistake in the generator is not repeated here. Names are read with
only ``pg_catalog`` on the search path, so every name is qualified, and the schema's own name
is then replaced by ``<S>``.
"""

from __future__ import annotations

import re

from django.db import connection, transaction
from psycopg import sql

CATEGORIES = {
    "tables": """
        SELECT c.relname, c.relkind, c.relpersistence, coalesce(array_to_string(c.reloptions, ','), '')
        FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    """,
    "columns": """
        SELECT table_name, column_name,
               row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),
               (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                 WHERE a.attrelid = format('%%I.%%I', table_schema, table_name)::regclass
                   AND a.attname = column_name),
               is_nullable, coalesce(column_default, ''), is_identity, coalesce(identity_generation, ''),
               coalesce(identity_start, ''), coalesce(identity_increment, ''), coalesce(identity_maximum, ''),
               coalesce(identity_minimum, ''), coalesce(identity_cycle, ''), is_generated,
               coalesce(generation_expression, ''), coalesce(collation_name, '')
        FROM information_schema.columns WHERE table_schema = %(name)s
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred,
               k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = %(ns)s
    """,
    "indexes": """
        SELECT x.tablename, x.indexname, x.indexdef, i.indisvalid, i.indisclustered, i.indisunique
        FROM pg_indexes x
        JOIN pg_class ic ON ic.relname = x.indexname AND ic.relnamespace = %(ns)s
        JOIN pg_index i ON i.indexrelid = ic.oid
        WHERE x.schemaname = %(name)s
    """,
    "sequences": """
        SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value, s.increment_by,
               s.cycle, s.cache_size, s.last_value,
               (SELECT string_agg(t.relname || '.' || a.attname || ':' || d.deptype::text, ',')
                  FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = format('%%I.%%I', s.schemaname, s.sequencename)::regclass
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
        FROM pg_sequences s WHERE s.schemaname = %(name)s
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = %(ns)s
    """,
    "triggers": """
        SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled
        FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
        WHERE c.relnamespace = %(ns)s AND NOT g.tgisinternal
    """,
    "views": """
        SELECT c.relname, c.relkind, pg_get_viewdef(c.oid), c.relispopulated
        FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('v', 'm')
    """,
    "types": """
        SELECT t.typname, t.typtype,
               coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                          WHERE e.enumtypid = t.oid), '')
        FROM pg_type t WHERE t.typnamespace = %(ns)s
    """,
    "comments": """
        SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
        FROM pg_description d
        WHERE (d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = %(ns)s))
           OR (d.classoid = 'pg_proc'::regclass AND d.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = %(ns)s))
           OR (d.classoid = 'pg_type'::regclass AND d.objoid IN (SELECT oid FROM pg_type WHERE typnamespace = %(ns)s))
           OR (d.classoid = 'pg_constraint'::regclass
               AND d.objoid IN (SELECT oid FROM pg_constraint WHERE connamespace = %(ns)s))
           OR (d.classoid = 'pg_trigger'::regclass AND d.objoid IN (
               SELECT g.oid FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE c.relnamespace = %(ns)s))
    """,
    "extensions used": """
        SELECT DISTINCT e.extname
        FROM pg_depend d
        JOIN pg_depend m ON m.classid = d.refclassid AND m.objid = d.refobjid AND m.deptype = 'e'
        JOIN pg_extension e ON e.oid = m.refobjid
        WHERE (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT oid FROM pg_class WHERE relnamespace = %(ns)s))
           OR (d.classid = 'pg_proc'::regclass AND d.objid IN (SELECT oid FROM pg_proc WHERE pronamespace = %(ns)s))
           OR (d.classid = 'pg_type'::regclass AND d.objid IN (SELECT oid FROM pg_type WHERE typnamespace = %(ns)s))
           OR (d.classid = 'pg_constraint'::regclass
               AND d.objid IN (SELECT oid FROM pg_constraint WHERE connamespace = %(ns)s))
    """,
}


_ARRAY_CAST = re.compile(r"\(ARRAY\[((?:[^\[\]']|'(?:[^']|'')*')*)\]\)::([\w ]+)\[\]")


def _split_top_level(items: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(items):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(items[start:i].strip())
            start = i + 1
    return [*parts, items[start:].strip()]


def _array_casts_pushed_in(text: str) -> str:
    """``(ARRAY[a, b])::t[]`` written as ``ARRAY[(a)::t, (b)::t]``, the form PostgreSQL reads it
    back as (parse_expr.c pushes a cast of an ARRAY[] constructor into its elements). A
    predicate Django wrote as ``state IN ('running', 'paused')`` is stored in the first form and
    comes back from its own definition in the second: the same predicate, and the only case
    where reading a definition back does not give the stored expression again."""
    return _ARRAY_CAST.sub(
        lambda m: "ARRAY[" + ", ".join(f"({item})::{m.group(2)}" for item in _split_top_level(m.group(1))) + "]",
        text,
    )


def snapshot(schema: str) -> dict[str, set[tuple]]:
    """Every object of ``schema`` as comparable tuples, by category, plus the migration rows and
    a digest of every other table's rows."""
    own = re.compile(r"(?<![\w$])" + re.escape(schema) + r"(?![\w$])")

    def norm(value):
        return _array_casts_pushed_in(own.sub("<S>", value)) if isinstance(value, str) else value

    result: dict[str, set[tuple]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])
        params = {"ns": cursor.fetchone()[0], "name": schema}
        for category, query in CATEGORIES.items():
            cursor.execute(query, params)
            result[category] = {tuple(norm(v) for v in row) for row in cursor.fetchall()}
        tables = sorted(row[0] for row in result["tables"] if row[1] == "r")
        result["migration rows"] = set()
        result["rows"] = set()
        for table in tables:
            ident = sql.Identifier(schema, table)
            if table == "django_migrations":
                cursor.execute(sql.SQL("SELECT app, name FROM {}").format(ident))
                result["migration rows"] = set(cursor.fetchall())
                continue
            cursor.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
                ).format(ident)
            )
            result["rows"].add((table, *cursor.fetchone()))
    return result


def differences(expected: dict[str, set[tuple]], actual: dict[str, set[tuple]]) -> list[str]:
    """Readable differences, ``missing`` meaning in ``actual`` and ``extra`` meaning only there."""
    out = []
    for category in expected.keys() | actual.keys():
        want, have = expected.get(category, set()), actual.get(category, set())
        out += [f"{category}: missing {row}" for row in sorted(want - have, key=repr)]
        out += [f"{category}: extra {row}" for row in sorted(have - want, key=repr)]
    return sorted(out)
