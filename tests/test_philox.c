/* Philox4x32-10 against the published known-answer vectors, and the dropout threshold. */
#include "clformer/philox.h"
#include "harness.h"

START_TEST(known_answers) {
    static const uint32_t cases[3][10] = {
        /* counter[4], key[2], expected[4] (Random123's kat_vectors) */
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int c = 0; c < 3; c++) {
        uint32_t out[4];
        clf_philox4x32_10(cases[c], cases[c] + 4, out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == cases[c][6 + i], "case %d word %d: got %08x want %08x", c, i, out[i],
                          cases[c][6 + i]);
    }
}
END_TEST

START_TEST(keep_rate_matches_p) {
    const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    for (int j = 0; j < 4; j++) {
        uint32_t t = clf_dropout_threshold(ps[j]);
        size_t kept = 0, n = 200000;
        for (uint32_t i = 0; i < n; i++) kept += clf_dropout_keep(i, 3, 17, 0x1234567890ull, t);
        double rate = (double)kept / (double)n;
        ck_assert_msg(rate > 1 - ps[j] - 0.005 && rate < 1 - ps[j] + 0.005, "p=%g kept %g", ps[j], rate);
    }
    ck_assert_uint_eq(clf_dropout_threshold(0.5f), 1u << 23);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("philox");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, known_answers);
    tcase_add_test(tc, keep_rate_matches_p);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
