// Access to the MPI runtime of the test program (set up by mpi_main.cpp).
#pragma once

#include "distributed/mpi_runtime.h"

namespace hyperrep::testing {
extern dist::MpiRuntime* g_runtime;
}
