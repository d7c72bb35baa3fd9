#ifndef SPACEGRID_CZEROMQ_SHIM_H
#define SPACEGRID_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
