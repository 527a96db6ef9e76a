/* meta_schema.h - the schema files, embedded at build time (see
 * embed-sql.sh; the generated definitions live in build/gen/meta_schema.c).
 * Steps are in ascending version order; step i brings a volume to
 * meta_schema_steps[i].version. */
#ifndef SHIMFS_META_SCHEMA_H
#define SHIMFS_META_SCHEMA_H

struct meta_schema_step {
    int version;
    const char *name;
    const char *sql;
};

extern const struct meta_schema_step meta_schema_steps[];
extern const int meta_schema_nsteps;
extern const char meta_schema_drop[];

#endif
