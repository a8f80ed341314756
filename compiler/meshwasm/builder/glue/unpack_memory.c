/* Writes the module's initial memory from its packed form at instantiation.
 *
 * builder/datapack.py replaces the snapshot's thousands of active data segments with one
 * passive segment: LZ4 blocks, one per run of memory between long zero runs.  The
 * module's start function copies that segment to scratch pages above the snapshot's
 * memory, calls meshwasm_unpack_memory on it, and zeroes the scratch pages again.
 *
 * Packed layout (little-endian u32s): chunk count, then per chunk its destination
 * address and compressed size, then the compressed blocks back to back.  The input is
 * written by our build into the module itself, so it is trusted: no bounds checks.
 */

#include <stdint.h>
#include <string.h>

static uint32_t load_u32(const uint8_t *at) {
    uint32_t value;
    memcpy(&value, at, sizeof value);
    return value;
}

/* An LZ4 length: the token's 4 bits, and while they are saturated, the bytes that follow. */
static uint32_t lz4_length(const uint8_t **input, uint32_t length) {
    if (length == 15) {
        uint8_t more;
        do {
            more = *(*input)++;
            length += more;
        } while (more == 255);
    }
    return length;
}

/* One LZ4 block (the format of lz4's block API, without a size prefix). */
static void lz4_block(const uint8_t *input, const uint8_t *end, uint8_t *output) {
    for (;;) {
        uint8_t token = *input++;
        uint32_t literals = lz4_length(&input, token >> 4);
        memcpy(output, input, literals);
        output += literals;
        input += literals;
        if (input >= end) {
            return;  /* the last sequence has literals only */
        }
        uint32_t offset = (uint32_t)input[0] | ((uint32_t)input[1] << 8);
        input += 2;
        uint32_t length = lz4_length(&input, token & 15) + 4;
        /* The match may overlap what it writes: a run repeating every `offset` bytes (the
         * snapshot's zero runs have offset 1).  What is written since `match` repeats with
         * that period, so copying all of it again keeps the period and never overlaps; each
         * copy doubles the distance. */
        const uint8_t *match = output - offset;
        while (length) {
            uint32_t step = (uint32_t)(output - match);
            if (step > length) {
                step = length;
            }
            memcpy(output, match, step);
            output += step;
            length -= step;
        }
    }
}

__attribute__((export_name("meshwasm_unpack_memory")))
void meshwasm_unpack_memory(const uint8_t *packed) {
    uint32_t count = load_u32(packed);
    const uint8_t *header = packed + 4;
    const uint8_t *block = header + 8 * count;
    for (uint32_t chunk = 0; chunk < count; chunk++, header += 8) {
        uint32_t size = load_u32(header + 4);
        lz4_block(block, block + size, (uint8_t *)(uintptr_t)load_u32(header));
        block += size;
    }
}
