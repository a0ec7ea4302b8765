/*-------------------------------------------------------------------------
 *
 * cycle_core.h
 *	  Server-independent part of the credits.cycle type: the text parser and
 *	  formatter, the binary codec and the calendar arithmetic.
 *
 * Nothing declared here needs a running server, so the parser and the
 * binary decoder can be linked into a fuzzing harness on their own.  Time
 * zone names are carried as written; resolving them against the time zone
 * database is the server side's job (cycle.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CREDITS_CYCLE_CORE_H
#define CREDITS_CYCLE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest zone name we carry, as PostgreSQL's TZ_STRLEN_MAX */
#define CYCLE_ZONE_MAXLEN	255

/* Version byte that starts the binary (send/recv) format */
#define CYCLE_BINARY_VERSION	1

/*
 * Calendar years the arithmetic accepts before handing a local time to the
 * server, which then applies the exact timestamp limits.  Keeping local
 * years inside this window keeps every intermediate value far from int64
 * overflow.
 */
#define CYCLE_CALENDAR_MIN_YEAR	(-4714)
#define CYCLE_CALENDAR_MAX_YEAR	294277

/* A wall-clock time of the proleptic Gregorian calendar (year 0 = 1 BC) */
typedef struct CycleLocal
{
	int32_t		year;
	int32_t		month;			/* 1..12 */
	int32_t		day;			/* 1..31 */
	int32_t		hour;
	int32_t		minute;
	int32_t		second;
} CycleLocal;

/* A cycle as parsed or decoded, before its zone is resolved */
typedef struct CycleParts
{
	CycleLocal	anchor;
	int32_t		months;			/* months per period, >= 1 */
	int32_t		periods;		/* periods in the contract; 0 = open-ended */
	char		zone[CYCLE_ZONE_MAXLEN + 1];	/* zone name as given */
} CycleParts;

/* Outcome of parsing or decoding; each maps to one SQLSTATE */
typedef enum CycleStatus
{
	CYCLE_OK = 0,
	CYCLE_BAD_SYNTAX,			/* 22007 invalid_datetime_format */
	CYCLE_BAD_VALUE,			/* 22023 invalid_parameter_value */
	CYCLE_BAD_ZONE,				/* 22023, the zone is not a zone name */
	CYCLE_OUT_OF_RANGE			/* 22008 datetime_field_overflow */
} CycleStatus;

extern CycleStatus cycle_parse(const char *str, CycleParts *out,
							   char *detail, size_t detail_size);
extern size_t cycle_format(const CycleParts *parts, char *buf, size_t size);

extern size_t cycle_encode(const CycleParts *parts, unsigned char *buf,
						   size_t size);
extern CycleStatus cycle_decode(const unsigned char *buf, size_t len,
								CycleParts *out,
								char *detail, size_t detail_size);

extern bool cycle_is_leap(int32_t year);
extern int	cycle_days_in_month(int32_t year, int32_t month);
extern bool cycle_local_add_months(const CycleLocal *base, int64_t months,
								   CycleLocal *out);
extern int64_t cycle_local_month_number(const CycleLocal *local);
extern int64_t cycle_local_to_usecs(const CycleLocal *local);
extern void cycle_usecs_to_local(int64_t usecs, CycleLocal *out);
extern int64_t cycle_floor_div(int64_t a, int64_t b);

#endif							/* CREDITS_CYCLE_CORE_H */
