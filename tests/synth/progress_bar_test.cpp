#include "synth/progress_bar.h"

#include <gtest/gtest.h>

#include <cstdio>

using namespace greta::synth;

TEST(ProgressBar, FormatsFractionAndRate) {
  EXPECT_EQ(format_progress_bar(0, 100, 0.0, 10), "[..........]   0%  0.00/0.00 GB  0.00 GB/s");
  EXPECT_EQ(format_progress_bar(2'000'000'000, 4'000'000'000, 2.0, 10), "[#####.....]  50%  2.00/4.00 GB  1.00 GB/s");
  EXPECT_EQ(format_progress_bar(7, 7, 1.0, 4).substr(0, 6), "[####]");
}

TEST(ProgressBar, DrawsInPlaceAndEndsWithNewline) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressBar bar(f);
  bar(10, 100);
  bar(20, 100);  // throttled: within 100 ms of the first draw
  bar(100, 100);
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out += static_cast<char>(c);
  std::fclose(f);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 2);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("100%"), std::string::npos);
}
