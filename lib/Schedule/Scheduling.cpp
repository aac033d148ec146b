//===- Scheduling.cpp - Entry point of the scheduler ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"
#include "layerpipe/Compilation.h"

#include <nlohmann/json.hpp>

using namespace llvm;

namespace layerpipe {

StringRef scheduleKindName(ScheduleKind kind) {
  switch (kind) {
  case ScheduleKind::LayerPipe:
    return "layerpipe";
  case ScheduleKind::PipeDream:
    return "pipedream";
  case ScheduleKind::GPipe:
    return "gpipe";
  case ScheduleKind::OneFOneB:
    return "1f1b";
  case ScheduleKind::ZBH1:
    return "zb-h1";
  }
  llvm_unreachable("unknown schedule kind");
}

std::optional<ScheduleKind> parseScheduleKind(StringRef name) {
  for (ScheduleKind kind :
       {ScheduleKind::LayerPipe, ScheduleKind::PipeDream, ScheduleKind::GPipe,
        ScheduleKind::OneFOneB, ScheduleKind::ZBH1})
    if (scheduleKindName(kind) == name)
      return kind;
  return std::nullopt;
}

Error runScheduling(Compilation &C) { return Error::success(); }

void printScheduleSummary(const Compilation &C, raw_ostream &os) {}

void addScheduleToReport(const Compilation &C, nlohmann::json &report) {}

} // namespace layerpipe
