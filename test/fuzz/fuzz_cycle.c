/*-------------------------------------------------------------------------
 *
 * fuzz_cycle.c
 *	  libFuzzer harness for the server-independent cycle code: the text
 *	  parser and the binary decoder (src/cycle_core.c).
 *
 * Every input is tried as text and as a binary value.  Besides not
 * crashing (address and undefined-behaviour sanitizers watch), accepted
 * values must round-trip: text -> parts -> canonical text -> the same
 * parts, parts -> binary -> the same parts, and a valid binary value is
 * re-encoded to exactly its own bytes.
 *
 *	  make fuzz [FUZZ_SECONDS=60]
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cycle_core.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_parts(const CycleParts *a, const CycleParts *b)
{
	return memcmp(&a->anchor, &b->anchor, sizeof(a->anchor)) == 0 &&
		a->months == b->months && a->periods == b->periods &&
		strcmp(a->zone, b->zone) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	CycleParts	parts;
	CycleParts	again;
	char		detail[256];
	char		canonical[CYCLE_ZONE_MAXLEN + 128];
	unsigned char binary[CYCLE_ZONE_MAXLEN + 32];
	size_t		n;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (cycle_parse(text, &parts, detail, sizeof(detail)) == CYCLE_OK)
	{
		n = cycle_format(&parts, canonical, sizeof(canonical));
		if (n >= sizeof(canonical))
			abort();
		if (cycle_parse(canonical, &again, detail, sizeof(detail)) != CYCLE_OK ||
			!same_parts(&parts, &again))
			abort();
		n = cycle_encode(&parts, binary, sizeof(binary));
		if (n > sizeof(binary) ||
			cycle_decode(binary, n, &again, detail, sizeof(detail)) != CYCLE_OK ||
			!same_parts(&parts, &again))
			abort();
	}

	if (cycle_decode(data, size, &parts, detail, sizeof(detail)) == CYCLE_OK)
	{
		n = cycle_encode(&parts, binary, sizeof(binary));
		if (n != size || memcmp(binary, data, size) != 0)
			abort();
	}

	free(text);
	return 0;
}
