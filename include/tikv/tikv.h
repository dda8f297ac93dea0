/* tikv-client: a TiKV client core in C. Include this header. */
#ifndef TIKV_TIKV_H
#define TIKV_TIKV_H

#include "common.h"
#include "error.h"
#include "future.h"
#include "client.h"
#include "raw.h"
#include "txn.h"

#endif
