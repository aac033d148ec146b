//===- layerpipe-train.cpp - Reference trainer ----------------------------===//
// Part of LayerPipe. (Skeleton.)
int main() { return 0; }
