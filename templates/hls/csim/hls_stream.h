/*
 * hls_stream.h for vendor-free C-simulation of bnncc's HLS C++ (written for bnncc; not
 * Xilinx's header).  Only the part of hls::stream<T> the generated code uses: an
 * unbounded FIFO.  In C-simulation the functions of a DATAFLOW region run one after
 * the other, so every FIFO must hold a whole frame; the depths given by
 * `#pragma HLS STREAM` apply to synthesis only.  Reading an empty stream is a bug in
 * the design: it aborts with a message instead of blocking forever.
 *
 * Vitis HLS ships its own hls_stream.h; never put this folder on its include path.
 */
#ifndef BNNCC_CSIM_HLS_STREAM_H
#define BNNCC_CSIM_HLS_STREAM_H

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
public:
    stream() : name_("stream") {}
    explicit stream(const char *name) : name_(name) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;

    void write(const T &v) { q_.push_back(v); }
    void operator<<(const T &v) { write(v); }

    T read()
    {
        if (q_.empty()) {
            std::fprintf(stderr, "hls_stream (C-sim): read from empty stream '%s'\n", name_.c_str());
            std::abort();
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    void operator>>(T &v) { v = read(); }

    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    std::size_t size() const { return q_.size(); }

private:
    std::string name_;
    std::deque<T> q_;
};

}  // namespace hls

#endif /* BNNCC_CSIM_HLS_STREAM_H */
